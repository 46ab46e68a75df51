# extrude(combine=False) in a chain that already holds a solid: the result is only the new prism
import cadquery as cq
base = cq.Workplane("XY").rect(2.0, 2.0).extrude(1.0)
solid = base.moveTo(3.0, 0.0).rect(1.0, 1.0).extrude(0.5, combine=False)
