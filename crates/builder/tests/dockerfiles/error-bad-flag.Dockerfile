FROM bb
COPY --bogus=1 a /b
