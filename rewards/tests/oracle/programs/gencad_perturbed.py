# GenCAD candidate style: perturbed non-unit plane vectors, arcs and two cuts
import cadquery as cq
# Generating a workplane for sketch 0
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.574299142759022, -0.78944662261207, 0.0), cq.Vector(1.0516366939172188, 0.0, 0.0), cq.Vector(0.0, 0.0, 0.898811107336974)))
loop0=wp_sketch0.moveTo(1.0228214646255662, 0.0).lineTo(1.0635350118667433, 1.3091094770257619).lineTo(0.0, 1.5375844221768586).lineTo(0.0, 0.0).close()
loop1=wp_sketch0.moveTo(0.542675202094968, 0.1628198004710569).circle(0.0406484769575991)
loop2=wp_sketch0.moveTo(0.5665805191796075, 1.318334931090433).circle(0.047978625675871404)
solid0=wp_sketch0.add(loop0).add(loop1).add(loop2).extrude(0.6249660226983297)
solid=solid0
# Generating a workplane for sketch 1
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(-0.15243588311880996, 0.6538269584403921, 0.0), cq.Vector(1.098629695126859, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0268849201647214)))
loop3=wp_sketch1.moveTo(0.0, -0.1476583639371675).threePointArc((0.15415498069818084, -0.30506691886240367), (0.2589983653533885, -0.13288577528308496)).lineTo(0.33972914086780753, 0.0).lineTo(0.1515075839338745, 0.0).lineTo(0.0, 0.0).close()
solid1=wp_sketch1.add(loop3).extrude(0.4765625)
solid=solid.cut(solid1)
# Generating a workplane for sketch 2
wp_sketch2 = cq.Workplane(cq.Plane(cq.Vector(-0.1484375, -0.75, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop4=wp_sketch2.moveTo(0.15074013157894736, 0.0).lineTo(0.3014802631578947, 0.0).lineTo(0.3014802631578947, 0.15394736842105264).threePointArc((0.15074013157894736, 0.3046875), (0.0, 0.15394736842105264)).lineTo(0.0, 0.0).close()
solid2=wp_sketch2.add(loop4).extrude(0.4765625)
solid=solid.cut(solid2)
