# box with default centring on XY
import cadquery as cq
solid = cq.Workplane("XY").box(1.0, 2.0, 3.0)
