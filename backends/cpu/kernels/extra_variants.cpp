#include "extra_variants.h"

#include <cstring>
#include <vector>

#include "approx_agent.h"            // agent
#include "approx_flowformer.h"       // flowformer
#include "approx_mosa.h"             // mosa
#include "approx_probsparse.h"       // probsparse
#include "approx_sea.h"              // sea
#include "diff_attention.h"          // diff
#include "flash_bias.h"              // flash:bias_rank=R
#include "linear_attention.h"        // linear, based
#include "mla_decode.h"              // mla
#include "prefix_shared.h"           // prefix_shared
#include "sparse_routing.h"          // routing
#include "sparse_star.h"             // star
#include "sparse_static_patterns.h"  // sliding_window, neighborhood, power, strided_heads
#include "topk_block.h"              // block_topk
#include "topk_decode.h"             // topk_decode
#include "topk_flexprefill.h"        // flexprefill
#include "topk_hip.h"                // hip
#include "topk_hyper.h"              // hyper
#include "topk_landmark.h"           // landmark
#include "topk_nsa.h"                // nsa
#include "tree_attention.h"           // tree

AB_CPU_NS_BEGIN

std::span<const ExtraVariant> extra_variants() {
  // One line per variant: {"name", supports_fn, run_fn}.
  static const std::vector<ExtraVariant> table = {
      {"linear", linear_supports, linear_run},
      {"based", based_supports, based_run},
      {"sliding_window", sliding_window_supports, sliding_window_run},
      {"neighborhood", neighborhood_supports, neighborhood_run},
      {"power", power_supports, power_run},
      {"strided_heads", strided_heads_supports, strided_heads_run},
      {"block_topk", block_topk_supports, block_topk_run},
      {"topk_decode", topk_decode_supports, topk_decode_run},
      {"hyper", hyper_supports, hyper_run},
      {"hip", hip_supports, hip_run},
      {"flexprefill", flexprefill_supports, flexprefill_run},
      {"prefix_shared", prefix_shared_supports, prefix_shared_run},
      {"tree", tree_supports, tree_run},
      {"nsa", nsa_supports, nsa_run},
      {"star", star_supports, star_run},
      {"landmark", landmark_supports, landmark_run},
      {"routing", routing_supports, routing_run},
      {"agent", agent_supports, agent_run},
      {"sea", sea_supports, sea_run},
      {"probsparse", probsparse_supports, probsparse_run},
      {"mosa", mosa_supports, mosa_run},
      {"flowformer", flowformer_supports, flowformer_run},
      {"mla", mla_supports, mla_run, true},
      {"diff", diff_supports, diff_run, true},
      {"flash", flash_bias_supports, flash_bias_run, true},  // only with options: flash:bias_rank=R
  };
  return table;
}

AB_CPU_NS_END
