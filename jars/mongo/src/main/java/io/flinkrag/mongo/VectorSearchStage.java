package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.lucene.search.Query;

/**
 * {@code $vectorSearch} as Atlas documents it: {@code index, path, queryVector, limit,
 * numCandidates} (≥ limit, ≤ 10000; not with {@code exact}), {@code filter} on fields declared
 * {@code type: "filter"}, {@code exact: true} for ENN. Hits come best first, each document with
 * its score in a hidden field that {@code {$meta: "vectorSearchScore"}} later stages read.
 */
final class VectorSearchStage {
  static final int MAX_CANDIDATES = 10_000;
  /** Where the score travels through the rest of the pipeline; removed from the output. */
  static final String SCORE_FIELD = "__vectorSearchScore";
  private static final Set<String> KEYS =
      Set.of("index", "path", "queryVector", "limit", "numCandidates", "filter", "exact");

  private VectorSearchStage() {}

  static List<Document> run(Document spec, SearchIndexes indexes, String database, String collection,
                            StoredDocuments source) {
    for (String key : spec.keySet()) {
      if (!KEYS.contains(key)) {
        throw error("\"" + key + "\" is not allowed");
      }
    }
    String indexName = text(spec, "index");
    String path = text(spec, "path");
    Object rawLimit = spec.get("limit");
    if (!(rawLimit instanceof Number)) {
      throw error("\"limit\" is required and must be a number");
    }
    int limit = ((Number) rawLimit).intValue();
    if (limit < 1) {
      throw error("\"limit\" must be positive");
    }
    boolean exact = Boolean.TRUE.equals(spec.get("exact"));
    Object rawCandidates = spec.get("numCandidates");
    int candidates = 0;
    if (exact) {
      if (rawCandidates != null) {
        throw error("\"numCandidates\" is not allowed when \"exact\" is true");
      }
    } else {
      if (!(rawCandidates instanceof Number)) {
        throw error("\"numCandidates\" is required for approximate search (or set \"exact\": true)");
      }
      candidates = ((Number) rawCandidates).intValue();
      if (candidates > MAX_CANDIDATES) {
        throw error("\"numCandidates\" must be less than or equal to " + MAX_CANDIDATES);
      }
      if (candidates < limit) {
        throw error("\"numCandidates\" must be greater than or equal to \"limit\"");
      }
    }
    SearchIndex index = indexes.find(database, collection, indexName);
    if (index == null) {
      throw new MongoServerError(27, "IndexNotFound",
          "$vectorSearch: index '" + indexName + "' does not exist on " + database + "." + collection
              + "; create it with createSearchIndexes and wait until it is READY");
    }
    LuceneVectors serving = index.serving;
    if (serving == null) {
      throw new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue",
          "$vectorSearch: index '" + indexName + "' is " + index.status + " and not yet queryable");
    }
    IndexDefinition.VectorField field = serving.definition.vectors.get(path);
    if (field == null) {
      throw error("Path '" + path + "' needs to be indexed as vector");
    }
    float[] target = queryVector(spec.get("queryVector"), field);
    Query filter = spec.containsKey("filter")
        ? FilterQuery.parse(spec.get("filter"), serving.definition.filters)
        : null;
    List<LuceneVectors.Hit> hits;
    try {
      hits = serving.search(field, target, limit, candidates, filter, exact);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
    List<Document> docs = new ArrayList<>(hits.size());
    for (LuceneVectors.Hit hit : hits) {
      Document doc = source == null ? null : source.byId(hit.id());
      if (doc == null) {
        continue; // deleted since the index last refreshed
      }
      Document copy = new Document(doc);
      copy.put(SCORE_FIELD, hit.score());
      docs.add(copy);
    }
    return docs;
  }

  private static float[] queryVector(Object raw, IndexDefinition.VectorField field) {
    if (!(raw instanceof List)) {
      throw error("\"queryVector\" must be an array of numbers");
    }
    List<?> list = (List<?>) raw;
    if (list.size() != field.dimensions()) {
      throw error("vector field is indexed with " + field.dimensions()
          + " dimensions but queried with " + list.size());
    }
    float[] vector = new float[list.size()];
    double norm = 0;
    for (int i = 0; i < vector.length; i++) {
      Object element = list.get(i);
      if (!(element instanceof Number) || !Double.isFinite(((Number) element).doubleValue())) {
        throw error("\"queryVector\" must be an array of finite numbers");
      }
      vector[i] = ((Number) element).floatValue();
      norm += (double) vector[i] * vector[i];
    }
    if (!field.normalizes()) {
      return vector;
    }
    if (norm == 0 || !Double.isFinite(norm)) {
      throw error("\"queryVector\" has no direction (all zeros), so it has no cosine similarity");
    }
    return LuceneVectors.scaled(vector, norm);
  }

  private static String text(Document spec, String key) {
    Object value = spec.get(key);
    if (!(value instanceof String) || ((String) value).isEmpty()) {
      throw error("\"" + key + "\" is required and must be a string");
    }
    return (String) value;
  }

  static MongoServerError error(String message) {
    return new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue", "$vectorSearch: " + message);
  }
}
