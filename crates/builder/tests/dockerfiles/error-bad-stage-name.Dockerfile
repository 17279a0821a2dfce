FROM bb AS 1stage
