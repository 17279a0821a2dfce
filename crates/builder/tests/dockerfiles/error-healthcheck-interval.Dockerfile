FROM bb
HEALTHCHECK --interval=1ns CMD true
