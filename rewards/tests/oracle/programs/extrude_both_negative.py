# both-sided extrude with a negative distance
import cadquery as cq
solid = cq.Workplane("XY", origin=(0.0, 0.0, 2.0)).moveTo(1.0, 1.0).circle(0.5).extrude(-0.4, both=True)
