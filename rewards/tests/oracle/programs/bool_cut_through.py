# cut a through hole (a cylinder longer than the plate) from a plate
import cadquery as cq
plate = cq.Workplane("XY").rect(3.0, 2.0).extrude(0.5)
tool = cq.Workplane("XY", origin=(0.0, 0.0, -1.0)).moveTo(0.5, 0.0).circle(0.4).extrude(3.0)
solid = plate.cut(tool)
