# OCCT's intersect of two valid prisms returns nothing here, although its own isInside puts (0, 0, 0.13) inside both (found by cadrl difftest, seed 1000 case 76)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.4296875, -0.15625, 0.109375), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.6640625, 0.0).lineTo(0.6640625, 0.3495065789473684).threePointArc((0.33203125, 0.2316319097891879), (0.0, 0.3495065789473684)).lineTo(0.0, 0.0).close()
solid0=wp_sketch0.add(loop0).extrude(0.0625)
solid=solid0
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(0.1328125, -0.03125, 0.109375), cq.Vector(-1.0, 0.0, 0.0), cq.Vector(0.0, -0.024541228522912288, -0.9996988186962042)))
loop1=wp_sketch1.moveTo(0.4226556682106969, 0.0).lineTo(0.4226556682106969, 0.11678643463716623).threePointArc((0.21132783410534844, 0.15391849742054714), (0.0, 0.11678643463716623)).lineTo(0.0, 0.0).close()
loop2=wp_sketch1.moveTo(0.3392367863270067, 0.03336755275347607).circle(0.020854720470922544)
solid1=wp_sketch1.add(loop1).add(loop2).extrude(-0.0546875)
solid=solid.intersect(solid1)
