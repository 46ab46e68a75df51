# two combine=False extrusions from one workplane, then an explicit union
import cadquery as cq
wp = cq.Workplane("YZ")
a = wp.rect(1.0, 1.0).extrude(1.0, combine=False)
b = wp.moveTo(0.5, 0.5).rect(1.0, 1.0).extrude(-0.5, combine=False)
solid = a.union(b)
