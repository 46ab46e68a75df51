# oblique normal (1,2,2) with xDir (0,1,0) not perpendicular; rect and polygon on it
import cadquery as cq
wp = cq.Workplane(cq.Plane(cq.Vector(1.0, -1.0, 0.5), cq.Vector(0.0, 1.0, 0.0), cq.Vector(1.0, 2.0, 2.0)))
a = wp.rect(1.5, 0.5, centered=False).extrude(0.3)
b = cq.Workplane(cq.Plane(cq.Vector(1.0, -1.0, 0.5), cq.Vector(0.0, 1.0, 0.0), cq.Vector(1.0, 2.0, 2.0))).moveTo(0.2, 0.1).polygon(3, 0.4).extrude(-0.6)
solid = a.union(b)
