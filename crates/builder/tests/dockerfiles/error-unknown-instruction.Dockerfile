FROM bb
RUN true
RUNN nope
