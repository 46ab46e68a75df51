# the program never assigns `solid` (the result is called `result`)
import cadquery as cq
result = cq.Workplane("XY").rect(1.0, 1.0).extrude(1.0)
