# an open polyline (no close, no wire) extruded: there are no pending wires
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).extrude(1.0)
