-- The same GET every time (the URL on wrk's command line), with the token:
-- list first page, deep page by cursor.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
