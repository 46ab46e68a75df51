# polygon(5, d, circumscribed=True) on a plane with origin, at a moveTo point
import cadquery as cq
solid = cq.Workplane("ZX", origin=(0.0, 1.0, 0.0)).moveTo(0.3, 0.2).polygon(5, 2.0, circumscribed=True).extrude(0.5)
