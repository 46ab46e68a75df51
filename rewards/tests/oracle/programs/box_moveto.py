# box placed at a moveTo point of a rotated plane (combine with nothing)
import cadquery as cq
wp = cq.Workplane(cq.Plane(cq.Vector(0.2, 0.1, -0.3), cq.Vector(0.0, 1.0, 0.0), cq.Vector(1.0, 0.0, 0.0)))
solid = wp.moveTo(0.5, -0.25).box(0.4, 0.3, 0.2, centered=(True, False, True))
