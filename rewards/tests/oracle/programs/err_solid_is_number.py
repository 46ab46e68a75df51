# `solid` holds a number
import cadquery as cq
solid = 0.5 * 2
