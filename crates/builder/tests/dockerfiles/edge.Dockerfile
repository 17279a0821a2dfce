FROM bb
COPY --parents a/b/c.txt ./x/y.txt /dst/
RUN echo start \
  # a comment inside a continuation is dropped
  && echo end
CMD ["broken json"
ENV KEY value with  spaces
LABEL a=1 \

      b=2
