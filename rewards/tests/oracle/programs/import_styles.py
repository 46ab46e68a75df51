# `import cadquery` without alias and `from cadquery import Workplane, Plane, Vector`
import cadquery
from cadquery import Workplane, Plane, Vector
a = cadquery.Workplane("XY").rect(1.0, 1.0).extrude(0.5)
b = Workplane(Plane(Vector(0.0, 0.0, 0.5), Vector(1.0, 0.0, 0.0), Vector(0.0, 0.0, 1.0))).circle(0.3).extrude(0.5)
solid = a.union(b)
