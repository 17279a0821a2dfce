# comment
RUN echo no stage
FROM bb
