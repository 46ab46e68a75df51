# booleans with .val() shapes as arguments, and a Shape (not a Workplane) as the result
import cadquery as cq
a = cq.Workplane("XY").rect(2.0, 2.0).extrude(1.0)
b = cq.Workplane("XY").moveTo(1.0, 1.0).circle(0.75).extrude(2.0)
c = cq.Workplane("YZ").rect(0.5, 0.5).extrude(3.0, both=True)
solid = a.union(b.val()).cut(c.val()).val()
