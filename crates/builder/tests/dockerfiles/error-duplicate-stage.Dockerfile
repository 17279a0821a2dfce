FROM a AS x
FROM b AS x
