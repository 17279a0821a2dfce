# escape=`
FROM mcr.invalid/base
RUN echo a `
    b
COPY C:\src C:\dst
ENV PATH=C:\bin;${PATH}
