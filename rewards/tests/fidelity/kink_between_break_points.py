import cadquery as cq
# Generating a workplane for sketch 0
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.359375, -0.203125, -0.2578125), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.6953125, 0.0).lineTo(0.6953125, 0.25616776315789475).lineTo(0.5489309210526315, 0.25616776315789475).lineTo(0.5489309210526315, 0.6953125).lineTo(0.365953947368421, 0.6953125).lineTo(0.365953947368421, 0.25616776315789475).lineTo(0.14638157894736842, 0.25616776315789475).lineTo(0.14638157894736842, 0.6953125).lineTo(0.0, 0.6953125).lineTo(0.0, 0.0).close()
loop1=wp_sketch0.moveTo(0.4941773884712138, 0.4575819937343717).lineTo(0.4573028746866809, 0.4575819937343717).lineTo(0.4573028746866809, 0.4207074799498388).lineTo(0.4941773884712138, 0.4207074799498388).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.3515625)
solid=solid0
# Generating a workplane for sketch 1
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(-0.1328125, 0.203125, -0.2578125), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.024541228522912288, 0.9996988186962042)))
loop2=wp_sketch1.moveTo(0.3575074638865214, 0.0).lineTo(0.3575074638865214, 0.14112136732362687).threePointArc((0.1787537319432607, 0.1748709721677705), (0.0, 0.14112136732362687)).lineTo(0.0, 0.0).close()
loop3=wp_sketch1.moveTo(0.2916508258021622, 0.12230518501380995).circle(0.014112136732362687)
loop4=wp_sketch1.moveTo(0.028224273464725346, 0.009408091154908458).circle(0.004704045577454229)
loop5=wp_sketch1.moveTo(0.11289709385890147, 0.10348900270399304).circle(0.03763236461963383)
solid1=wp_sketch1.add(loop2).add(loop3).add(loop4).add(loop5).extrude(0.3671875)
solid=solid.cut(solid1)
# Generating a workplane for sketch 2
wp_sketch2 = cq.Workplane(cq.Plane(cq.Vector(-0.125, 0.015625, 0.09375), cq.Vector(-1.0, 1.2246467991473532e-16, 0.0), cq.Vector(1.2246467991473532e-16, 0.0, -1.0)))
loop6=wp_sketch2.moveTo(0.10941599975809216, 0.0).circle(0.10941599975809216)
loop7=wp_sketch2.moveTo(0.10941599975809216, 0.0).circle(0.0561476840863894)
solid2=wp_sketch2.add(loop6).add(loop7).extrude(0.1953125)
solid=solid.cut(solid2)
# Generating a workplane for sketch 3
wp_sketch3 = cq.Workplane(cq.Plane(cq.Vector(0.203125, 0.1015625, -0.2578125), cq.Vector(-1.0, 1.2246467991473532e-16, 0.0), cq.Vector(1.2246467991473532e-16, 0.0, -1.0)))
loop8=wp_sketch3.moveTo(0.09558433297921322, 0.0).circle(0.09558433297921322)
solid3=wp_sketch3.add(loop8).extrude(-0.234375)
solid=solid.cut(solid3)
# Generating a workplane for sketch 4
wp_sketch4 = cq.Workplane(cq.Plane(cq.Vector(0.21875, -0.0390625, 0.09375), cq.Vector(-1.0, 1.2246467991473532e-16, 0.0), cq.Vector(1.2246467991473532e-16, 0.0, -1.0)))
loop9=wp_sketch4.moveTo(0.1173498911423835, 0.1173498911423835).circle(0.1173498911423835)
loop10=wp_sketch4.moveTo(0.1173498911423835, 0.1173498911423835).circle(0.056007902590683036)
loop11=wp_sketch4.moveTo(0.14935440690848809, 0.2026952665186624).circle(0.016002257883052297)
solid4=wp_sketch4.add(loop9).add(loop10).add(loop11).extrude(0.2421875)
solid=solid.intersect(solid4)
# Generating a workplane for sketch 5
wp_sketch5 = cq.Workplane(cq.Plane(cq.Vector(-0.140625, -0.078125, -0.2578125), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop12=wp_sketch5.moveTo(0.35588411833663947, 0.0).lineTo(0.35588411833663947, 0.4829855891711536).lineTo(0.2457295102800606, 0.4829855891711536).lineTo(0.2457295102800606, 0.321990392780769).lineTo(0.1271014708345141, 0.321990392780769).lineTo(0.1271014708345141, 0.1609951963903845).lineTo(0.0, 0.1609951963903845).lineTo(0.0, 0.0).close()
solid5=wp_sketch5.add(loop12).extrude(0.3671875)
solid=solid.cut(solid5)
