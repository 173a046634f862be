// center_crop<10, 4> of a 3 x 7 x 9 image: the 10-row window does not fit the 7 rows.
#include <kiln/data/transforms.hpp>

int main() {
    kiln::data::image<float, 3, 7, 9> img;
#ifdef KILN_CONTROL
    auto out = kiln::data::center_crop<7, 4>{}(img);
#else
    auto out = kiln::data::center_crop<10, 4>{}(img);
#endif
    return static_cast<int>(out[0]);
}
