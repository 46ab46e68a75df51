# OCCT fails on this 1.4-degree tilted cylinder against the plate's round hole: the cut removes nothing and the intersect returns nothing, although its own isInside puts points inside both (found by cadrl difftest, seed 5000 case 370)
import cadquery as cq
wp0 = cq.Workplane(cq.Plane(cq.Vector(-1e-09, -0.5078125, 0.140625), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
plate = wp0.add(wp0.moveTo(0.7890625, 0.0).lineTo(0.7890625, 0.7890625).lineTo(0.0, 0.7890625).lineTo(0.0, 0.0).close()).add(wp0.moveTo(0.33223684210526316, 0.5606496710526316).circle(0.1401624177631579)).extrude(0.03125)
wp1 = cq.Workplane(cq.Plane(cq.Vector(-0.1953125, -0.3984375, 0.2421875), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, -0.024541228522912288, 0.9996988186962042)))
cylinder = wp1.add(wp1.moveTo(0.2339493244752038, 0.2339493244752038).circle(0.2339493244752038)).extrude(-0.1171875)
solid = plate.cut(cylinder)
