# blind pocket whose tool shares the top face of the base (coincident faces)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(2.0, 0.0).lineTo(2.0, 2.0).lineTo(0.0, 2.0).close()
solid0=wp_sketch0.add(loop0).extrude(1.0)
solid=solid0
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 1.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop1=wp_sketch1.moveTo(0.5, 0.5).lineTo(1.5, 0.5).lineTo(1.5, 1.5).lineTo(0.5, 1.5).close()
solid1=wp_sketch1.add(loop1).extrude(-0.4)
solid=solid.cut(solid1)
