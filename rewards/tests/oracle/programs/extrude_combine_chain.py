# extrude (combine=True by default) in a chain that already holds a solid: fused with it
import cadquery as cq
base = cq.Workplane("XY").rect(2.0, 2.0).extrude(1.0)
solid = base.moveTo(1.0, 0.0).circle(0.5).extrude(2.0)
