-- Build a model with plain SQL: clone model 'base' as 'clone' and give the
-- clone a new projection head (one dense layer, 8 outputs).  Run after
--   .load ./siamsql
--   SELECT siam_import('base', 'path/to/model');
--
-- The config says what the head is; the tensors must then match it exactly,
-- or the first siam_embed('clone', ...) names the tensor that does not.

BEGIN;
DELETE FROM siam_model WHERE name = 'clone';

-- The config: the base encoder and pooling, a new head, L2 normalization.
INSERT INTO siam_model(name, config, source)
SELECT 'clone',
       json_set(config,
                '$.head', json_array(json_object(
                    'in', json_extract(config, '$.encoder.hidden_size') * json_array_length(config, '$.pooling'),
                    'out', 8, 'bias', json('true'), 'activation', 'identity')),
                '$.normalize', json('true')),
       'sql/clone_and_replace_head.sql'
  FROM siam_model WHERE name = 'base';

-- The encoder's tensors and the vocabulary, shared byte for byte.
INSERT INTO siam_tensor(model, name, dtype, shape, data)
SELECT 'clone', name, dtype, shape, data FROM siam_tensor
 WHERE model = 'base' AND name NOT LIKE 'head.%';
INSERT INTO siam_vocab(model, id, token)
SELECT 'clone', id, token FROM siam_vocab WHERE model = 'base';

-- The new head: weight [8, in] (torch layout: [out, in]) of zeros and a bias
-- of [1,0,...,0], so every text maps to the same unit vector: easy to check.
INSERT INTO siam_tensor(model, name, dtype, shape, data)
SELECT 'clone', 'head.0.weight', 'f32',
       json_array(8, json_extract(config, '$.head[0].in')),
       siam_pack(zeroblob(4 * 8 * json_extract(config, '$.head[0].in')))
  FROM siam_model WHERE name = 'clone';
INSERT INTO siam_tensor(model, name, dtype, shape, data)
VALUES ('clone', 'head.0.bias', 'f32', '[8]', siam_pack(siam_f32('[1,0,0,0,0,0,0,0]')));
COMMIT;
