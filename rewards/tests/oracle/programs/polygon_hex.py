# polygon(6, d) inscribed hexagon extruded
import cadquery as cq
solid = cq.Workplane("XY").polygon(6, 2.0).extrude(1.0)
