# a triangular hole drawn with lineTo inside a rectangle, plus a rect() hole
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(4.0, 0.0).lineTo(4.0, 2.0).lineTo(0.0, 2.0).close()
loop1=wp_sketch0.moveTo(0.5, 0.5).lineTo(1.5, 0.5).lineTo(1.0, 1.5).close()
loop2=wp_sketch0.moveTo(3.0, 1.0).rect(0.6, 0.8)
solid0=wp_sketch0.add(loop0).add(loop1).add(loop2).extrude(0.25)
solid=solid0
