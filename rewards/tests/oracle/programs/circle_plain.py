# circle at a moveTo point, extruded
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.5, -0.5).circle(1.0).extrude(2.0)
