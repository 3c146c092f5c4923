// createDataset/upsertDataset interop against a real Phoenix on postgresql (skipped unless PU_TEST_BACKENDS names it).
import { backends } from "./phoenix.mjs";
import { interop } from "./interop-suite.mjs";

if (backends.includes("postgresql")) interop("postgresql");
