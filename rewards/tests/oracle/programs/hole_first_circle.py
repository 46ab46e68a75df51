# circular hole listed before the outer loop (GenCAD does this sometimes)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(1.0, 0.75).circle(0.3)
loop1=wp_sketch0.moveTo(0.0, 0.0).lineTo(2.0, 0.0).lineTo(2.0, 1.5).lineTo(0.0, 1.5).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.2)
solid=solid0
