# line, hLine, vLine, hLineTo, vLineTo and close on XY
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).line(2.0, 0.0).vLine(1.0).hLine(-1.0).vLineTo(2.0).hLineTo(0.0).close().extrude(1.0)
