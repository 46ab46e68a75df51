# rect on XY, centred, extruded: the simplest valid program
import cadquery as cq
solid = cq.Workplane("XY").rect(2.0, 3.0).extrude(1.0)
