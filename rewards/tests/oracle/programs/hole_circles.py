# a plate with two circular holes (GenCAD style, as in the fixtures)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.5234375, -0.75, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(1.0421052631578949, 0.0).lineTo(1.0421052631578949, 1.5).lineTo(0.0, 1.5).lineTo(0.0, 0.0).close()
loop1=wp_sketch0.moveTo(0.5210526315789474, 0.1736842105263158).circle(0.04736842105263158)
loop2=wp_sketch0.moveTo(0.5210526315789474, 1.3263157894736843).circle(0.04736842105263158)
solid0=wp_sketch0.add(loop0).add(loop1).add(loop2).extrude(0.546875)
solid=solid0
