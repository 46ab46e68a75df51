# GenCAD planes with 6.123e-17 components (normal -y, and normal +x with xDir y)
import cadquery as cq
# Generating a workplane for sketch 0
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, -0.078125), cq.Vector(1.0, 6.123233995736766e-17, -6.123233995736766e-17), cq.Vector(6.123233995736766e-17, -1.0, 6.123233995736766e-17)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(0.625, 0.0).lineTo(0.625, 0.07236842105263158).lineTo(0.0, 0.07236842105263158).lineTo(0.0, 0.0).close()
solid0=wp_sketch0.add(loop0).extrude(0.75)
solid=solid0
# Generating a workplane for sketch 1
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(0.0, -0.6640625, -0.6015625), cq.Vector(3.749399456654644e-33, 1.0, -6.123233995736766e-17), cq.Vector(1.0, 0.0, 6.123233995736766e-17)))
loop1=wp_sketch1.moveTo(0.0, 0.0).threePointArc((0.01647524355825678, -0.03977475644174322), (0.05625, -0.05625)).lineTo(0.5, -0.05625).lineTo(0.5, 0.4).lineTo(0.0, 0.4).close()
solid1=wp_sketch1.add(loop1).extrude(0.0625)
solid=solid.union(solid1)
