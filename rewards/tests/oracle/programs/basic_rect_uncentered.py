# rect with centered=False and centered=(True, False) on a workplane with an origin
import cadquery as cq
a = cq.Workplane("XY", origin=(0.5, -0.25, 0.1)).rect(2.0, 3.0, centered=False).extrude(1.5)
b = cq.Workplane("XY", origin=(0.0, 0.0, 2.0)).rect(1.0, 0.5, centered=(True, False)).extrude(0.25)
solid = a.union(b)
