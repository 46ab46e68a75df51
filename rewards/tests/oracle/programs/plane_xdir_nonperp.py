# xDir (1,1,1) with normal (0,0,1): CadQuery/gp_Ax3 projects xDir into the plane
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.5), cq.Vector(1.0, 1.0, 1.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(2.0, 0.0).lineTo(2.0, 0.5).lineTo(0.0, 0.5).close()
solid0=wp_sketch0.add(loop0).extrude(0.25)
solid=solid0
