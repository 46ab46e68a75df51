# extrude(0): a prism of zero height
import cadquery as cq
solid = cq.Workplane("XY").rect(1.0, 1.0).extrude(0.0)
