"""Learning by predicting: questions about packets, scoring, breakpoints, lessons.

Everything here is Qt-free: the terminal quiz (``visualizer quiz``), the
GUI's predict mode and the lesson walker ask the same questions and stop at
the same breakpoints.
"""
