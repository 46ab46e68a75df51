# box on a named plane with origin= and a per-axis centered tuple, unioned with a second box
import cadquery as cq
a = cq.Workplane("XZ", origin=(1.0, 2.0, 3.0)).box(1.0, 2.0, 3.0, centered=(False, True, False))
b = cq.Workplane("YZ", origin=(0.5, 0.5, 0.5)).box(0.5, 0.75, 2.5, centered=False)
solid = a.union(b)
