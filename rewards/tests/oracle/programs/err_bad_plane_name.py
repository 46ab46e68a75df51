# ValueError: unknown named plane
import cadquery as cq
solid = cq.Workplane("XW").rect(1.0, 1.0).extrude(1.0)
