# non-unit xDir and normal vectors (as in perturbed GenCAD candidates)
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.574299142759022, -0.78944662261207, 0.0), cq.Vector(1.0516366939172188, 0.0, 0.0), cq.Vector(0.0, 0.0, 0.898811107336974)))
loop0=wp_sketch0.moveTo(1.0228214646255662, 0.0).lineTo(1.0635350118667433, 1.3091094770257619).lineTo(0.0, 1.5375844221768586).lineTo(0.0, 0.0).close()
loop1=wp_sketch0.moveTo(0.542675202094968, 0.1628198004710569).circle(0.0406484769575991)
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.6249660226983297)
solid=solid0
