# oblique plane normal (0.3,-0.5,0.8) with xDir (1,0,0) not perpendicular to it (orthogonalised)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.2, 0.4, 0.1), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.3, -0.5, 0.8)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.2, 0.0).lineTo(1.2, 0.3).threePointArc((0.9, 0.6), (0.6, 0.3)).lineTo(0.0, 0.3).close()
loop1=wp_sketch0.moveTo(0.25, 0.15).circle(0.08)
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.5)
solid=solid0
