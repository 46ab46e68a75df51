# a whole clockwise loop (lines and a cw arc bulging outwards) in GenCAD style
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(0.0, 1.0).lineTo(1.0, 1.0).threePointArc((1.5, 0.5), (1.0, 0.0)).close()
solid0=wp_sketch0.add(loop0).extrude(0.2)
solid=solid0
