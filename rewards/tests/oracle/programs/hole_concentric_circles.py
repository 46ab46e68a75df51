# two concentric circles: a ring (tube), on plane XZ
import cadquery as cq
solid = cq.Workplane("XZ").circle(2.0).circle(1.0).extrude(3.0)
