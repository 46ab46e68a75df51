# default cq.Workplane() (XY), integer arguments and arithmetic expressions as arguments
import cadquery as cq
h = 1 / 3
solid = cq.Workplane().moveTo(2 ** 0.5, -1).lineTo(3, -1).lineTo(3, 2 * 0.75).lineTo(-0.5 + 2 ** 0.5, 1.5).close().extrude(h * 2)
