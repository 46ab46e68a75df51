# rect() then polygon() at the same centre: a hexagonal hole in a square plate
import cadquery as cq
solid = cq.Workplane("XY").rect(4.0, 4.0).polygon(6, 1.5).extrude(1.0)
