# a 10-sketch GenCAD-style program: unions, cuts and an intersection on axis and rotated planes, arcs and holes
import cadquery as cq
# Generating a workplane for sketch 0
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, -0.5, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.5, 0.0).lineTo(1.5, 1.0).lineTo(0.0, 1.0).lineTo(0.0, 0.0).close()
loop1=wp_sketch0.moveTo(0.25, 0.25).circle(0.1)
loop2=wp_sketch0.moveTo(1.25, 0.75).circle(0.1)
solid0=wp_sketch0.add(loop0).add(loop1).add(loop2).extrude(0.25)
solid=solid0
# Generating a workplane for sketch 1
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(-0.25, -0.5, 0.25), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop3=wp_sketch1.moveTo(0.0, 0.0).lineTo(0.5, 0.0).lineTo(0.5, 0.75).threePointArc((0.25, 1.0), (0.0, 0.75)).lineTo(0.0, 0.0).close()
solid1=wp_sketch1.add(loop3).extrude(0.5)
solid=solid.union(solid1)
# Generating a workplane for sketch 2
wp_sketch2 = cq.Workplane(cq.Plane(cq.Vector(0.0, -0.5, 0.5), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, -1.0, 0.0)))
loop4=wp_sketch2.moveTo(0.0, 0.0).circle(0.125)
solid2=wp_sketch2.add(loop4).extrude(-1.0)
solid=solid.cut(solid2)
# Generating a workplane for sketch 3
wp_sketch3 = cq.Workplane(cq.Plane(cq.Vector(0.75, 0.0, 0.0), cq.Vector(0.0, 1.0, 0.0), cq.Vector(1.0, 0.0, 0.0)))
loop5=wp_sketch3.moveTo(-0.5, 0.0).lineTo(0.5, 0.0).lineTo(0.5, 0.125).lineTo(-0.5, 0.125).close()
solid3=wp_sketch3.add(loop5).extrude(0.2)
solid=solid.union(solid3)
# Generating a workplane for sketch 4
wp_sketch4 = cq.Workplane(cq.Plane(cq.Vector(0.6, 0.0, 0.3), cq.Vector(0.0, 0.0, 1.0), cq.Vector(0.7071067811865476, 0.7071067811865476, 0.0)))
loop6=wp_sketch4.moveTo(0.0, 0.0).lineTo(0.3, 0.0).lineTo(0.3, 0.3).lineTo(0.0, 0.3).close()
solid4=wp_sketch4.add(loop6).extrude(0.15, both=True)
solid=solid.union(solid4)
# Generating a workplane for sketch 5
wp_sketch5 = cq.Workplane(cq.Plane(cq.Vector(-0.75, -0.5, 0.25), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop7=wp_sketch5.moveTo(0.0, 0.0).lineTo(0.25, 0.0).threePointArc((0.1767766952966369, 0.1767766952966369), (0.0, 0.25)).lineTo(0.0, 0.0).close()
solid5=wp_sketch5.add(loop7).extrude(-0.25)
solid=solid.cut(solid5)
# Generating a workplane for sketch 6
wp_sketch6 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.5, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, -1.0, 0.0)))
loop8=wp_sketch6.moveTo(0.1, 0.05).lineTo(0.6, 0.05).lineTo(0.6, 0.2).lineTo(0.1, 0.2).close()
solid6=wp_sketch6.add(loop8).extrude(0.3)
solid=solid.cut(solid6)
# Generating a workplane for sketch 7
wp_sketch7 = cq.Workplane(cq.Plane(cq.Vector(-1.0, -1.0, -0.5), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop9=wp_sketch7.moveTo(0.0, 0.0).lineTo(2.4, 0.0).lineTo(2.4, 2.0).threePointArc((1.2, 2.3), (0.0, 2.0)).lineTo(0.0, 0.0).close()
solid7=wp_sketch7.add(loop9).extrude(2.0)
solid=solid.intersect(solid7)
# Generating a workplane for sketch 8
wp_sketch8 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.75), cq.Vector(1.0, 6.123233995736766e-17, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop10=wp_sketch8.moveTo(0.0, 0.0).circle(0.1)
solid8=wp_sketch8.add(loop10).extrude(0.2)
solid=solid.union(solid8)
# Generating a workplane for sketch 9
wp_sketch9 = cq.Workplane(cq.Plane(cq.Vector(0.5, 0.25, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop11=wp_sketch9.moveTo(0.0, 0.0).lineTo(0.2, 0.0).lineTo(0.2, 0.2).lineTo(0.0, 0.2).close()
solid9=wp_sketch9.add(loop11).extrude(0.25)
solid=solid.cut(solid9)
